"""Microsoft Entra credentials for the passwordless connections (Storage, PostgreSQL, ACS).

One rule everywhere, the one the Functions host uses for its own identity-based
connections: a client id names a user-assigned managed identity; without one,
DefaultAzureCredential finds the system-assigned identity in Azure (or `az login` on a
developer's machine). azure.identity is imported only when a credential is needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

# The scope Azure Database for PostgreSQL accepts Entra access tokens for.
POSTGRES_TOKEN_SCOPE = "https://ossrdbms-aad.database.windows.net/.default"


def token_credential(client_id: str | None = None) -> TokenCredential:
    if client_id:
        from azure.identity import ManagedIdentityCredential

        return ManagedIdentityCredential(client_id=client_id)
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()
