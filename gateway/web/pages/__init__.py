"""The web pages people use: server-rendered, no external assets, a strict CSP.

One module per area (signin, cameras, holds, records, people); ``table``
lists every page route with who may open it, and ``setup_pages`` registers them.
"""
