"""The netmiko transport: CLI-only devices (FRR through a vtysh login shell), pushed as a
merge of the lines netorch.configtree.hconfig computes.

output: what the device prints, read without a device; connection: opening netmiko
connections with host key checking, and the Nornir connection plugin; session:
NetmikoSession, the DeviceSession.
"""
