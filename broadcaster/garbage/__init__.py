"""The garbage-collection calendar: import, reminders, changes, replies, export."""
