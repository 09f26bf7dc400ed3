"""National cyber reviews: questionnaire, reviewers, scores per area, recommendations, report."""
