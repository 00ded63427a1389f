"""asyncio Gearman client, worker and admin client (never imports geartool.server).

Public names: :class:`Client`, :class:`Job`, :class:`JobEvent`, :class:`EventKind`,
:class:`JobResult`, :class:`JobStatus`, :class:`Worker`, :class:`WorkerJob`, :class:`WorkFail`,
the errors, and the address helpers. The synchronous facade is :mod:`geartool.client.sync`.
"""

from geartool.protocol import Priority

from .client import Client, as_addresses
from .errors import (
    ConnectError,
    ConnectionLost,
    ConnectTimeout,
    GearmanError,
    JobTimeout,
    RequestTimeout,
    ServerError,
    SubmitTimeout,
)
from .job import EventKind, Job, JobEvent, JobResult, JobStatus
from .servers import Address, parse_address, parse_addresses, pick_order
from .worker import Worker, WorkerJob, WorkFail

__all__ = [
    "Client", "Job", "JobEvent", "EventKind", "JobResult", "JobStatus", "Worker", "WorkerJob",
    "WorkFail", "Priority", "ConnectError", "ConnectTimeout", "ConnectionLost", "SubmitTimeout",
    "JobTimeout", "RequestTimeout", "ServerError", "GearmanError", "Address", "parse_address",
    "parse_addresses", "pick_order", "as_addresses",
]
