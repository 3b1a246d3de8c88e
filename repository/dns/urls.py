from django.urls import path

from repository.dns import views

# Included by certpanel/urls.py under settings/dns-providers/ (a part of Settings in the menu).
app_name = "dns"

urlpatterns = [
    path("", views.provider_list, name="list"),
    path("add/", views.provider_add, name="add"),
    path("<int:provider_id>/test/", views.provider_test, name="test"),
    path("<int:provider_id>/delete/", views.provider_delete, name="delete"),
]
