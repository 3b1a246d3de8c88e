from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def deploy_roots(settings, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> str:
    """Deployments in these tests write under pytest's temporary directories: the deploy root, for this process
    (settings) and for the workers and panels it starts (the environment they inherit)."""
    root = str(tmp_path_factory.getbasetemp().resolve())
    settings.CERTPANEL_DEPLOY_ROOTS = [root]
    monkeypatch.setenv("CERTPANEL_DEPLOY_ROOTS", root)
    return root
