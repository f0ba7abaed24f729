"""On-the-fly renditions over HTTP: the function's answer to API Gateway (payload 2.0) events.

One module per stage: config (the HTTP settings), signing (the URL signature, shared with
`resizer url`), request (path and query), negotiate (the output format), respond (proxy
responses), rendition (stored or made), serve (the order of the checks). Nothing here imports
Pillow until an image has to be made.
"""
