"""Fault injection: the real service under load while it is killed, frozen and cut off.

`python -m chaos` (`make chaos`) starts its own PostgreSQL and broker, which outlive the
service, runs the service as a subprocess, seeds MCOM orders, grants appeasements over HTTP
and the command topic while faults are injected one after the other, then lets the system
settle and checks, from what it sent, the topics and the HTTP API only, that no accepted
appeasement was lost or doubled and no order was over-credited.
"""
