"""tasking and collaboration: RFIs, teams, projects, deconfliction, communities, national reviews

Revision ID: 0400
Revises: 0001
Create Date: 2026-11-27

Hand-written for the tasking package; its own branch off the base schema. Seeds the
Global Cybercrime Expert Group and the five regional working groups of heads of
cybercrime units (the tasking service re-seeds them idempotently: seed_groups).
"""
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0400"
down_revision = "0001"
branch_labels = None
depends_on = None

# Frozen copy of the seeded groups (cyberfusion.tasking.groups.service.SEEDED_GROUPS at this revision).
_GROUP_DESCRIPTION = ("Heads of cybercrime units of the {region} region: regional priorities, "
                      "joint operations and good practice.")
SEEDED_GROUPS = [("Global Cybercrime Expert Group", "expert_group", None,
                  "Experts from law enforcement, industry and academia advising on cybercrime strategy.")] + [
    (f"{region} Working Group of Heads of Cybercrime Units", "regional_working_group", region,
     _GROUP_DESCRIPTION.format(region=region))
    for region in ("Africa", "Americas", "Asia & South Pacific", "Europe", "Middle East & North Africa")]


def upgrade() -> None:
    op.create_table('community_groups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('region', sa.String(length=40), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('seeded', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('tasking_teams',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('community_meetings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('location', sa.String(length=200), nullable=False),
    sa.Column('agenda', sa.Text(), nullable=False),
    sa.Column('minutes', sa.Text(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['members.id'], ),
    sa.ForeignKeyConstraint(['group_id'], ['community_groups.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_community_meetings_group_id'), 'community_meetings', ['group_id'], unique=False)
    op.create_table('community_members',
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('joined_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['community_groups.id'], ),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], ),
    sa.PrimaryKeyConstraint('group_id', 'member_id')
    )
    op.create_index(op.f('ix_community_members_member_id'), 'community_members', ['member_id'], unique=False)
    op.create_table('community_posts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=True),
    sa.Column('media_type', sa.String(length=100), nullable=True),
    sa.Column('content', sa.LargeBinary(), nullable=True),
    sa.Column('author_member_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_member_id'], ['members.id'], ),
    sa.ForeignKeyConstraint(['group_id'], ['community_groups.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_community_posts_group_id'), 'community_posts', ['group_id'], unique=False)
    op.create_table('cyber_reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('requesting_org_id', sa.Integer(), nullable=False),
    sa.Column('requested_by', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['requested_by'], ['members.id'], ),
    sa.ForeignKeyConstraint(['requesting_org_id'], ['organisations.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_cyber_reviews_country'), 'cyber_reviews', ['country'], unique=False)
    op.create_index(op.f('ix_cyber_reviews_requesting_org_id'), 'cyber_reviews', ['requesting_org_id'], unique=False)
    op.create_table('deconfliction_activities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('owner_org_id', sa.Integer(), nullable=False),
    sa.Column('owner_member_id', sa.Integer(), nullable=False),
    sa.Column('contact', sa.String(length=300), nullable=False),
    sa.Column('tlp', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_member_id'], ['members.id'], ),
    sa.ForeignKeyConstraint(['owner_org_id'], ['organisations.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_deconfliction_activities_owner_org_id'), 'deconfliction_activities', ['owner_org_id'], unique=False)
    op.create_index(op.f('ix_deconfliction_activities_status'), 'deconfliction_activities', ['status'], unique=False)
    op.create_table('projects',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('objective', sa.Text(), nullable=False),
    sa.Column('lead_member_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('countries', sa.Text(), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=True),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['lead_member_id'], ['members.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_projects_lead_member_id'), 'projects', ['lead_member_id'], unique=False)
    op.create_table('rfis',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('question', sa.Text(), nullable=False),
    sa.Column('context', sa.Text(), nullable=False),
    sa.Column('crime_type', sa.String(length=32), nullable=True),
    sa.Column('countries', sa.Text(), nullable=False),
    sa.Column('related_values', sa.JSON(), nullable=False),
    sa.Column('related_objects', sa.JSON(), nullable=False),
    sa.Column('purpose', sa.String(length=32), nullable=False),
    sa.Column('priority', sa.String(length=16), nullable=False),
    sa.Column('queue_class', sa.Integer(), nullable=False),
    sa.Column('tlp', sa.Integer(), nullable=False),
    sa.Column('shared_with', sa.Text(), nullable=False),
    sa.Column('staff_only', sa.Boolean(), nullable=False),
    sa.Column('requester_member_id', sa.Integer(), nullable=False),
    sa.Column('requester_org_id', sa.Integer(), nullable=False),
    sa.Column('requested_by', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('assignee_member_id', sa.Integer(), nullable=True),
    sa.Column('assignee_team_id', sa.Integer(), nullable=True),
    sa.Column('breached_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['assignee_member_id'], ['members.id'], ),
    sa.ForeignKeyConstraint(['assignee_team_id'], ['tasking_teams.id'], ),
    sa.ForeignKeyConstraint(['requester_member_id'], ['members.id'], ),
    sa.ForeignKeyConstraint(['requester_org_id'], ['organisations.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_rfis_assignee_member_id'), 'rfis', ['assignee_member_id'], unique=False)
    op.create_index(op.f('ix_rfis_assignee_team_id'), 'rfis', ['assignee_team_id'], unique=False)
    op.create_index('ix_rfis_queue', 'rfis', ['queue_class', 'due_at', 'id'], unique=False)
    op.create_index(op.f('ix_rfis_requester_org_id'), 'rfis', ['requester_org_id'], unique=False)
    op.create_index(op.f('ix_rfis_state'), 'rfis', ['state'], unique=False)
    op.create_table('tasking_notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('ref', sa.String(length=64), nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], ),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_tasking_notifications_org_member', 'tasking_notifications', ['organisation_id', 'member_id'], unique=False)
    op.create_table('tasking_team_members',
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], ),
    sa.ForeignKeyConstraint(['team_id'], ['tasking_teams.id'], ),
    sa.PrimaryKeyConstraint('team_id', 'member_id')
    )
    op.create_index(op.f('ix_tasking_team_members_member_id'), 'tasking_team_members', ['member_id'], unique=False)
    op.create_table('community_shares',
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('contribution_id', sa.String(length=36), nullable=False),
    sa.Column('shared_by', sa.Integer(), nullable=False),
    sa.Column('shared_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contribution_id'], ['contributions.id'], ),
    sa.ForeignKeyConstraint(['group_id'], ['community_groups.id'], ),
    sa.ForeignKeyConstraint(['shared_by'], ['members.id'], ),
    sa.PrimaryKeyConstraint('group_id', 'contribution_id')
    )
    op.create_index(op.f('ix_community_shares_contribution_id'), 'community_shares', ['contribution_id'], unique=False)
    op.create_table('cyber_review_recommendations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('review_id', sa.Integer(), nullable=False),
    sa.Column('area', sa.String(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('priority', sa.String(length=8), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['members.id'], ),
    sa.ForeignKeyConstraint(['review_id'], ['cyber_reviews.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_cyber_review_recommendations_review_id'), 'cyber_review_recommendations', ['review_id'], unique=False)
    op.create_table('cyber_review_responses',
    sa.Column('review_id', sa.Integer(), nullable=False),
    sa.Column('question', sa.String(length=64), nullable=False),
    sa.Column('answer', sa.Text(), nullable=False),
    sa.Column('answered_by', sa.Integer(), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['answered_by'], ['members.id'], ),
    sa.ForeignKeyConstraint(['review_id'], ['cyber_reviews.id'], ),
    sa.PrimaryKeyConstraint('review_id', 'question')
    )
    op.create_table('cyber_review_reviewers',
    sa.Column('review_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], ),
    sa.ForeignKeyConstraint(['review_id'], ['cyber_reviews.id'], ),
    sa.PrimaryKeyConstraint('review_id', 'member_id')
    )
    op.create_index(op.f('ix_cyber_review_reviewers_member_id'), 'cyber_review_reviewers', ['member_id'], unique=False)
    op.create_table('cyber_review_scores',
    sa.Column('review_id', sa.Integer(), nullable=False),
    sa.Column('area', sa.String(length=64), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('strengths', sa.Text(), nullable=False),
    sa.Column('gaps', sa.Text(), nullable=False),
    sa.Column('scored_by', sa.Integer(), nullable=False),
    sa.Column('scored_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['review_id'], ['cyber_reviews.id'], ),
    sa.ForeignKeyConstraint(['scored_by'], ['members.id'], ),
    sa.PrimaryKeyConstraint('review_id', 'area')
    )
    op.create_table('deconfliction_overlaps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity_a_id', sa.Integer(), nullable=False),
    sa.Column('activity_b_id', sa.Integer(), nullable=False),
    sa.Column('detected_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['activity_a_id'], ['deconfliction_activities.id'], ),
    sa.ForeignKeyConstraint(['activity_b_id'], ['deconfliction_activities.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('activity_a_id', 'activity_b_id')
    )
    op.create_index(op.f('ix_deconfliction_overlaps_activity_a_id'), 'deconfliction_overlaps', ['activity_a_id'], unique=False)
    op.create_index(op.f('ix_deconfliction_overlaps_activity_b_id'), 'deconfliction_overlaps', ['activity_b_id'], unique=False)
    op.create_table('deconfliction_targets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('value', sa.String(length=2048), nullable=False),
    sa.ForeignKeyConstraint(['activity_id'], ['deconfliction_activities.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_deconfliction_targets_activity_id'), 'deconfliction_targets', ['activity_id'], unique=False)
    op.create_index('ix_deconfliction_targets_value', 'deconfliction_targets', ['kind', 'value'], unique=False)
    op.create_table('project_deliverables',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('owner_member_id', sa.Integer(), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_member_id'], ['members.id'], ),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_project_deliverables_owner_member_id'), 'project_deliverables', ['owner_member_id'], unique=False)
    op.create_index(op.f('ix_project_deliverables_project_id'), 'project_deliverables', ['project_id'], unique=False)
    op.create_table('project_members',
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('tasks', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], ),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ),
    sa.PrimaryKeyConstraint('project_id', 'member_id')
    )
    op.create_index(op.f('ix_project_members_member_id'), 'project_members', ['member_id'], unique=False)
    op.create_table('project_objects',
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('stix_id', sa.String(length=100), nullable=False),
    sa.Column('added_by', sa.Integer(), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['added_by'], ['members.id'], ),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ),
    sa.PrimaryKeyConstraint('project_id', 'stix_id')
    )
    op.create_table('project_organisations',
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], ),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ),
    sa.PrimaryKeyConstraint('project_id', 'organisation_id')
    )
    op.create_index(op.f('ix_project_organisations_organisation_id'), 'project_organisations', ['organisation_id'], unique=False)
    op.create_table('project_rfis',
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('rfi_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ),
    sa.ForeignKeyConstraint(['rfi_id'], ['rfis.id'], ),
    sa.PrimaryKeyConstraint('project_id', 'rfi_id')
    )
    op.create_table('rfi_answers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rfi_id', sa.Integer(), nullable=False),
    sa.Column('author_member_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('released_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['author_member_id'], ['members.id'], ),
    sa.ForeignKeyConstraint(['released_by'], ['members.id'], ),
    sa.ForeignKeyConstraint(['rfi_id'], ['rfis.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_rfi_answers_rfi_id'), 'rfi_answers', ['rfi_id'], unique=False)
    op.create_table('rfi_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rfi_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_member_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('from_state', sa.String(length=16), nullable=True),
    sa.Column('to_state', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['actor_member_id'], ['members.id'], ),
    sa.ForeignKeyConstraint(['rfi_id'], ['rfis.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_rfi_events_rfi_id'), 'rfi_events', ['rfi_id'], unique=False)
    op.create_table('rfi_answer_refs',
    sa.Column('answer_id', sa.Integer(), nullable=False),
    sa.Column('stix_id', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['answer_id'], ['rfi_answers.id'], ),
    sa.PrimaryKeyConstraint('answer_id', 'stix_id')
    )

    now = datetime.now(UTC)
    if op.get_bind().dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # as cyberfusion.db.UTCDateTime stores it there
    groups = sa.table("community_groups", sa.column("name", sa.String), sa.column("kind", sa.String),
                      sa.column("region", sa.String), sa.column("description", sa.Text),
                      sa.column("seeded", sa.Boolean), sa.column("created_at", sa.DateTime(timezone=True)))
    op.bulk_insert(groups, [{"name": n, "kind": k, "region": r, "description": d, "seeded": True, "created_at": now}
                            for n, k, r, d in SEEDED_GROUPS])


def downgrade() -> None:
    op.drop_table('rfi_answer_refs')
    op.drop_table('rfi_events')
    op.drop_table('rfi_answers')
    op.drop_table('project_rfis')
    op.drop_table('project_organisations')
    op.drop_table('project_objects')
    op.drop_table('project_members')
    op.drop_table('project_deliverables')
    op.drop_table('deconfliction_targets')
    op.drop_table('deconfliction_overlaps')
    op.drop_table('cyber_review_scores')
    op.drop_table('cyber_review_reviewers')
    op.drop_table('cyber_review_responses')
    op.drop_table('cyber_review_recommendations')
    op.drop_table('community_shares')
    op.drop_table('tasking_team_members')
    op.drop_table('tasking_notifications')
    op.drop_table('rfis')
    op.drop_table('projects')
    op.drop_table('deconfliction_activities')
    op.drop_table('cyber_reviews')
    op.drop_table('community_posts')
    op.drop_table('community_members')
    op.drop_table('community_meetings')
    op.drop_table('tasking_teams')
    op.drop_table('community_groups')
