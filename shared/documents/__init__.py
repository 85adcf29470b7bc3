"""Candidates' documents: from the portal into Blob Storage, then verified (DESIGN.md, flow 3).

* :mod:`~shared.documents.addresses`, :mod:`~shared.documents.transport`: where a download may
  connect (the SSRF rules) and the HTTP transport that connects only there;
* :mod:`~shared.documents.download`: the portal's ``GET /v1/documents/{id}/content``, streamed,
  through the breaker and the API key, with the size rules;
* :mod:`~shared.documents.blobs`: the ``candidate-documents`` container (blocks, commit,
  quarantine), with azure-core errors translated;
* :mod:`~shared.documents.naming`: blob names, ``Content-Disposition``, metadata;
* :mod:`~shared.documents.transfer`: the ``document-transfers`` handler;
* :mod:`~shared.documents.sniff`, :mod:`~shared.documents.scan`,
  :mod:`~shared.documents.verify`: the ``document-verification`` handler and its checks;
* :mod:`~shared.documents.store`: the SQL, as named statements;
* :mod:`~shared.documents.messages`: the two queues' message bodies.
"""
