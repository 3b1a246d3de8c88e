from django.urls import include, path

from repository import views

app_name = "repository"

urlpatterns = [
    path("", views.certificate_list, name="list"),
    path("new/self-signed/", views.create_self_signed, name="create_self_signed"),
    path("new/csr/", views.create_csr, name="create_csr"),
    path("import/", views.import_certificate, name="import"),
    path("export/", views.bulk_export, name="bulk_export"),
    path("delete-unused/", views.bulk_delete, name="bulk_delete"),
    path("<int:certificate_id>/", views.certificate_detail, name="detail"),
    path("<int:certificate_id>/complete/", views.complete, name="complete"),
    path("<int:certificate_id>/export/", views.export, name="export"),
    path("<int:certificate_id>/delete/", views.delete, name="delete"),
    path("<int:certificate_id>/renew-self-signed/", views.renew_self_signed, name="renew_self_signed"),
    path("<int:certificate_id>/new-csr/", views.csr_from_certificate, name="csr_from"),
    path("", include("repository.acme.urls")),
]
