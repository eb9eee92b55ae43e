"""Dynamic routing: resolving OSPF, BGP and VRF intents, compiling them, and reading their live state."""
