"""Communities: expert and regional working groups, their notes, documents, meetings and shared intelligence."""
