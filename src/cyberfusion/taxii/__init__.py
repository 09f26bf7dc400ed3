"""TAXII 2.1: the server (collections over the policy-filtered store), collectors that pull
partners' TAXII collections and MISP feeds, and MISP/STIX feed export. See docs/taxii.md."""
