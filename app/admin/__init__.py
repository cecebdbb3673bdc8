"""The admin console at /admin: server-rendered pages for the marketing team, on the same service
functions as the API. Signed in with an API key; what a person may do follows the key's scopes."""
