"""netorch verify: every promise of the intents proven on the compiled network, for all packets.

model       forwarding (RIB sources, FIB, next hops) and filters with platform semantics
headerspace sets of packets: address atoms x (protocol, port) interval sets (portion)
checks      per-pair evaluation and the intents' specification
filters     shadowed rules and shadowed denies
verifier    every check, with everything up and under single failures
report      findings with counterexamples"""

from netorch.verify.report import Finding, Report, VerifyFailed
from netorch.verify.verifier import verify, verify_or_refuse, verify_state

__all__ = ["Finding", "Report", "VerifyFailed", "verify", "verify_or_refuse", "verify_state"]
