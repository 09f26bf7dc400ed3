"""Country cyber activity reports: compile through the policy gate, render, record, disseminate."""
