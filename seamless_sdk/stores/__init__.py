"""Bar stores: the embedded ``LocalStore`` (``stores.local``) and the ``BarStore``
interface (``stores.base``)."""
