from django.urls import path

from certpanel.accounts import views

app_name = "users"

urlpatterns = [
    path("", views.user_list, name="list"),
    path("add/", views.user_add, name="add"),
    path("<int:user_id>/", views.user_detail, name="detail"),
    path("<int:user_id>/password/", views.user_password, name="password"),
    path("<int:user_id>/two-factor/reset/", views.user_twofactor_reset, name="twofactor_reset"),
    path("<int:user_id>/deactivate/", views.user_active, {"active": False}, name="deactivate"),
    path("<int:user_id>/activate/", views.user_active, {"active": True}, name="activate"),
]
