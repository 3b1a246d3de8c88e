"""Included at ``toolbox/`` by ``certpanel/urls.py``; no namespace, so the page stays ``{% url 'toolbox' %}``."""

from django.urls import path

from repository.toolbox import views

urlpatterns = [
    path("", views.toolbox_page, name="toolbox"),
]
