"""What happened in the repository, for other apps to hear (Django signals; repository imports none of them).

Each signal is sent inside the transaction of the change it reports, so a receiver's writes commit or roll back
with it; a receiver's exception propagates to the sender (``send``, not ``send_robust``), as a direct call would.
services/receivers.py connects to them in ``ServicesConfig.ready()``.
"""

from __future__ import annotations

from django.dispatch import Signal

# A renewal stored ``new`` in the place of ``old`` (keyword arguments ``old``, ``new``; sender: Certificate).
# Whatever served ``old`` now serves ``new``: services moves its listeners and queues their deployments.
certificate_replaced = Signal()
