"""Every write to the ledger goes through these functions (HackSoft style: `<thing>_<verb>`, keyword-only).

Admin actions, API views, tasks and commands are thin callers of them.
"""
