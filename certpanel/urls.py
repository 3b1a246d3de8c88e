from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from certpanel import views
from certpanel.access import views as twofactor_views
from certpanel.access.gate import twofactor_step
from certpanel.audit import views as audit_views
from certpanel.dashboard import views as dashboard_views
from repository import settings_views
from repository.acme import views as acme_views

urlpatterns = [
    path("", dashboard_views.dashboard, name="dashboard"),
    path("jobs/", dashboard_views.jobs, name="jobs"),
    path("jobs/<str:kind>/<int:pk>/", dashboard_views.job_detail, name="jobs_detail"),
    path("jobs/<str:kind>/<int:pk>/retry/", dashboard_views.job_retry_view, name="jobs_retry"),
    path("health/", views.health, name="health"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("login/two-factor/", twofactor_views.verify, name="twofactor_verify"),
    path("login/two-factor/setup/", twofactor_views.setup, name="twofactor_setup"),
    path("logout/", twofactor_step(auth_views.LogoutView.as_view()), name="logout"),
    path("account/two-factor/", twofactor_views.manage, name="twofactor_manage"),
    path("password/", twofactor_views.PasswordChange.as_view(), name="password_change"),
    path("certificates/", include("repository.urls")),
    path("services/", include("services.urls")),
    path("toolbox/", include("repository.toolbox.urls")),
    path("users/", include("certpanel.accounts.urls")),
    path("settings/", settings_views.settings_page, name="settings"),
    path("settings/notifications/", settings_views.notify_recipients_save, name="settings_notify"),
    path("settings/schedule/", settings_views.schedule_policy_update, name="settings_schedule"),
    path("settings/test-email/", settings_views.test_email_send, name="settings_test_email"),
    path("settings/dns-providers/", include("repository.dns.urls")),
    path("settings/acme-account/", acme_views.account_register, name="acme_account_register"),
    path(".well-known/acme-challenge/<str:token>", acme_views.acme_challenge, name="acme_challenge"),
    path("audit/", audit_views.audit_list, name="audit"),
    path("admin/", admin.site.urls),
]

handler400 = "certpanel.views.bad_request"
