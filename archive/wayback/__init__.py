"""The Wayback stage: submit captured sources to a Wayback archive and find the copies it holds.

client (results, protocol, timestamps, the shared HTTP base, CDX parsing), ia (the Internet Archive), pywb (a
self-hosted pywb), targets (which one the settings name), queue (the drain and its worker), lookups (lookups and
recovery copies).
"""
