from django.urls import path

from repository import views
from repository.acme import views as acme_views

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
    path("<int:certificate_id>/renew/", acme_views.renew_now, name="renew"),
    path("letsencrypt/", acme_views.letsencrypt, name="letsencrypt"),
    path("letsencrypt/new/", acme_views.new_certificate, name="new_acme"),
    path("orders/<int:order_id>/", acme_views.order_detail, name="order"),
    path("orders/<int:order_id>/status/", acme_views.order_status, name="order_status"),
]
