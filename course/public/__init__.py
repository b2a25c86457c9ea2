"""The public tests: handed to the students with the parts they implement (course/parts.py)."""
