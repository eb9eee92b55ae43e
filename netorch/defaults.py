"""Every default that more than one layer needs, defined once.

The CLI's options, the daemon's configuration, the engine and the messages that cross an
executor all read their defaults here, so that a default changed here changes everywhere.
"""

from __future__ import annotations

#: seconds a device with a revert timer of its own waits for the confirm before it restores
#: its previous configuration (FRR through netorch's driver, NETCONF confirmed commits)
CONFIRM_TIMEOUT = 120
#: seconds a run waits for a device another run holds before it gives up
LOCK_WAIT = 30.0
#: seconds a drift check or a live reading waits for a device another run holds
READ_LOCK_WAIT = 10.0
#: parallel device sessions of one run (Nornir's threaded runner)
WORKERS = 10
#: seconds to open a device connection
CONNECT_TIMEOUT = 30
#: seconds apply's post-check polls the RIB for the intended static routes
VERIFY_TIMEOUT = 5.0
#: seconds verify waits for a device's protocols (adjacencies, sessions, routes) to converge;
#: only for devices with protocol intents (the others wait VERIFY_TIMEOUT)
PROTOCOL_CONVERGENCE_TIMEOUT = 60.0
