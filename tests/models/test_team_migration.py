"""Migration 0029 turns each distinct ``staff_user.team`` name into a team whose members
are the staff who carried it; staff without a team stay without one."""

from __future__ import annotations

import uuid
from pathlib import Path

import aiosqlite

from models.database import migrate_database, open_database
from models.staff import StaffUser
from models.team import Team, TeamMember
from tests.migration_snapshots import MigrationSnapshots


async def test_team_names_become_teams_with_their_members(
    sqlite_migrations: MigrationSnapshots, tmp_path: Path
) -> None:
    path = tmp_path / "teams.sqlite3"
    url = sqlite_migrations.database_at("models.0027_members", path)
    connection = await aiosqlite.connect(path)
    try:
        for username, team in (("a", "理赔一组"), ("b", "理赔一组"), ("c", "客服部"), ("d", None)):
            await connection.execute(
                "INSERT INTO staff_user (id, created_at, username, display_name, role, team, "
                "password_hash, is_active, failed_logins) "
                "VALUES (?, '2026-12-01 00:00:00+00:00', ?, ?, 'agent', ?, 'x', 1, 0)",
                (str(uuid.uuid4()), username, username, team),
            )
        await connection.commit()
    finally:
        await connection.close()
    await migrate_database(url)
    async with open_database(url):
        names = sorted(await Team.all().values_list("name", flat=True))
        assert names == ["客服部", "理赔一组"]
        members = {
            (await StaffUser.get(id=m.staff_id)).username: (await Team.get(id=m.team_id)).name
            for m in await TeamMember.all()
        }
        assert members == {"a": "理赔一组", "b": "理赔一组", "c": "客服部"}
