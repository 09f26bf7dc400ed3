"""Projects and operations, deliverables, linked intelligence and RFIs, and a person's whole load."""
