"""Data security and personal-information rights (数据安全, 个人信息保护法):
``rules`` the codes, bounds, deletion and retention rules as data; ``reveal`` the one
logged way staff read a full personal value; ``audit`` the log and alerts for auditors."""
