"""The jwtguard demo: a protected API and a development issuer, both on 127.0.0.1."""
