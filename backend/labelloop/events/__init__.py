"""What Label Studio tells labelloop: webhook events parsed, stored and applied in one transaction."""
