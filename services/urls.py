from django.urls import path

from services import views

app_name = "services"

urlpatterns = [
    path("", views.service_list, name="list"),
    path("add/", views.service_add, name="add"),
    path("verify/", views.service_verify_all, name="verify_all"),
    path("replace/", views.service_replace, name="replace"),
    path("replace/progress/", views.service_replace_progress, name="replace_progress"),
    path("<int:listener_id>/", views.service_detail, name="detail"),
    path("<int:listener_id>/edit/", views.service_edit, name="edit"),
    path("<int:listener_id>/delete/", views.service_delete, name="delete"),
    path("<int:listener_id>/select/", views.service_select, name="select"),
    path("<int:listener_id>/sni/remove/", views.service_remove_sni, name="remove_sni"),
    path("<int:listener_id>/deploy/", views.service_deploy, name="deploy"),
    path("<int:listener_id>/verify/", views.service_verify, name="verify"),
]
