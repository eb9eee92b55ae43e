"""The NETCONF transport (ncclient), one module per concern: connection (connect, the Nornir
plugin), session (the transaction on one device), payload (what netorch owns and the XML it
sends), routes (static routes and route checks), errors (rpc-errors, connection failures).
The canonical XML trees they work on are in netorch.configtree.xml."""
