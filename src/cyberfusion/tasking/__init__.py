"""Tasking and collaboration: how the people of the fusion centre work together.

Sub-packages, each with the usual models/repository/service/api/schemas files:
  rfi/            requests for information: priorities, SLAs, workflow, queue, answers, release as STIX
  projects/       projects and operations, deliverables, linked intelligence, a person's whole load
  deconfliction/  register of ongoing activities and overlap detection on shared targets
  groups/         communities: expert groups, regional working groups, notes, meetings, group sharing
  reviews/        national cyber reviews: questionnaire, reviewers, scores, recommendations, report
The top-level modules hold what they share: notifications (models, repository, service, api) and
policy-gated reads of referenced intelligence (repository).
"""
