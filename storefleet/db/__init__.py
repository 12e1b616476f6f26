"""Database plumbing shared by the control plane and the tenant data planes."""
