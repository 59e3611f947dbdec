"""vigile: a guard for patient-record software.

Watch every request that touches patient data, detect abnormal extraction,
stop it inline, and scope a breach to persons. Start with :mod:`vigile.events`.
"""

__version__ = "0.1.0"
