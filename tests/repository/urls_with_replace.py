"""The panel's URLs plus a stand-in for ``services:replace`` (built in services): the certificate page offers its
button only when that URL exists."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from certpanel.urls import urlpatterns as panel
from services.urls import urlpatterns as services


def _replace(request: HttpRequest) -> HttpResponse:
    return HttpResponse("replace")


urlpatterns = [
    path("services/", include(([*services, path("replace/", _replace, name="replace")], "services"))),
    *[pattern for pattern in panel if getattr(pattern, "namespace", None) != "services"],
]
