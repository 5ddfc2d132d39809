"""Release engine: launch templates, Auto Scaling groups and instance refreshes."""
