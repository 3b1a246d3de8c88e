from django.urls import path

from repository.dns import views

# Included by repository/urls.py under dns-providers/, in its "repository" namespace.
urlpatterns = [
    path("", views.provider_list, name="dns_providers"),
    path("add/", views.provider_add, name="dns_provider_add"),
    path("<int:provider_id>/test/", views.provider_test, name="dns_provider_test"),
    path("<int:provider_id>/delete/", views.provider_delete, name="dns_provider_delete"),
]
