from django.urls import include, path

from repository import views

app_name = "repository"

urlpatterns = [
    path("", views.certificate_list, name="list"),
    path("new/self-signed/", views.create_self_signed, name="create_self_signed"),
    path("new/csr/", views.create_csr, name="create_csr"),
    path("import/", views.import_certificate, name="import"),
    path("<int:certificate_id>/", views.certificate_detail, name="detail"),
    path("<int:certificate_id>/complete/", views.complete, name="complete"),
    path("<int:certificate_id>/export/", views.export, name="export"),
    path("<int:certificate_id>/delete/", views.delete, name="delete"),
    path("", include("repository.acme.urls")),
]
