"""One device, wherever its work runs (this process or a worker): the messages that cross an
executor, the device's sessions, the work of each action, and per-device drift."""
