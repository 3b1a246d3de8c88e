"""The ACME pages under /certificates/, in the ``repository:`` namespace (included by repository/urls.py).

At the site's root (certpanel/urls.py): the settings page's account form and the HTTP-01 responder."""

from django.urls import path

from repository.acme import views

urlpatterns = [
    path("<int:certificate_id>/renew/", views.renew_now, name="renew"),
    path("<int:certificate_id>/reuse-key/", views.reuse_key, name="reuse_key"),
    path("letsencrypt/", views.letsencrypt, name="letsencrypt"),
    path("letsencrypt/new/", views.new_certificate, name="new_acme"),
    path("orders/<int:order_id>/", views.order_detail, name="order"),
    path("orders/<int:order_id>/status/", views.order_status, name="order_status"),
    path("orders/<int:order_id>/retry/", views.order_retry, name="order_retry"),
    path("acme-registrations/<int:registration_id>/", views.registration_status, name="registration"),
    path("acme-registrations/<int:registration_id>/agree/", views.registration_agree, name="registration_agree"),
]
