"""HTTP service: a Perspective-compatible API, Coral's moderation webhook and a review page.

Optional: needs the ``serve`` extra (``pip install 'moderation[serve]'``). Nothing in the core
package imports this subpackage, so scoring never pays for the web stack.
"""
