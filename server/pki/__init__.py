"""The nikgate PKI, in two parts that never need each other's secrets:

- `ca`: the offline CA (init, issue, sign a CSR, revoke, CRL, list), used by `nikgate pki`
  and `nikgate demo`; it holds the CA key.
- `runtime`: what a worker checks on every call (the identity a peer certificate names,
  revocation against the CRL) and its own TLS pair, reloaded on rotation.

`layout` is what both share: the directory layout and the certificate naming rules.
See docs/pki.md.
"""
