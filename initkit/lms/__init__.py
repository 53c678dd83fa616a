"""What learning management systems hand a grader, brought into nbgrader's layout
(`submitted/<student>/<assignment>/`): canvas_zip.py reads Canvas's "Download Submissions" zip."""
