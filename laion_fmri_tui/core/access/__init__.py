"""Client side of the stimulus access service (the gated stimulus images).

The images are behind a Data Use Agreement: a form is posted once, the
service answers with a request id (a bearer credential kept in the dataset
package's ``auth.json``) and short-lived presigned URLs; later runs trade the
id for fresh URLs. ``client`` speaks the HTTP protocol, ``auth`` keeps the id,
``form`` validates the agreement form, ``errors`` maps failures to one line.
"""
