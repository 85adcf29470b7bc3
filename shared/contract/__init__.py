"""The portal's side of the integration as code: webhook signatures, event envelopes and data.

Pure logic, no I/O: the receiver, the importer and the processor call these to decide what a
delivery is and whether it obeys ``portal-contract.md``.
"""
