"""The function code resizer deploys to Lambda: `lambda_handler.handler.handler`.

Only the standard library, boto3 and Pillow (from the layer) may be imported here.
"""
