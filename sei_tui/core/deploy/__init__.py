"""From a recommendation to a deployment: export a split's head and tail, carry its payload
over a socket (`wire`), serve the tail (`server`) and run the head against it (`client`).

Textual-free, like all of `sei_tui.core`; docs/wire-format.md documents the protocol.
"""
