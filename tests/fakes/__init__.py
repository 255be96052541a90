"""Local servers that speak the providers' wire formats (Twilio, X, SMTP)."""
